#include <vector>

#include "caffe/layers/mx_broadcast_layer.hpp"
#include "mxnet2caffe/broadcast.hpp"

namespace caffe {

namespace {

template <typename Dtype>
mxnet2caffe::Shape kernel_shape(const Blob<Dtype>& blob) {
  return mxnet2caffe::Shape(blob.shape().begin(), blob.shape().end());
}

}  // namespace

template <typename Dtype>
void MXBroadcastLayer<Dtype>::Reshape(const vector<Blob<Dtype>*>& bottom, const vector<Blob<Dtype>*>& top) {
  const mxnet2caffe::Shape a_shape = kernel_shape(*bottom[0]), b_shape = kernel_shape(*bottom[1]);
  const std::string error = mxnet2caffe::broadcast_shape_error(a_shape, b_shape);
  CHECK(error.empty()) << this->type() << " layer " << this->layer_param_.name() << ": " << error;
  // Backward needs both bottoms as they were, so neither may be overwritten by the top.
  CHECK(top[0] != bottom[0] && top[0] != bottom[1])
      << this->type() << " layer " << this->layer_param_.name() << " cannot compute in place";
  const mxnet2caffe::Shape shape = mxnet2caffe::broadcast_output_shape(a_shape, b_shape);
  top[0]->Reshape(vector<int>(shape.begin(), shape.end()));
}

template <typename Dtype>
void MXBroadcastLayer<Dtype>::Forward_cpu(const vector<Blob<Dtype>*>& bottom, const vector<Blob<Dtype>*>& top) {
  mxnet2caffe::broadcast_forward(op_, bottom[0]->cpu_data(), kernel_shape(*bottom[0]), bottom[1]->cpu_data(),
                                 kernel_shape(*bottom[1]), top[0]->mutable_cpu_data());
}

template <typename Dtype>
void MXBroadcastLayer<Dtype>::Backward_cpu(const vector<Blob<Dtype>*>& top, const vector<bool>& propagate_down,
                                           const vector<Blob<Dtype>*>& bottom) {
  if (!propagate_down[0] && !propagate_down[1]) return;
  mxnet2caffe::broadcast_backward(
      op_, top[0]->cpu_diff(), bottom[0]->cpu_data(), kernel_shape(*bottom[0]), bottom[1]->cpu_data(),
      kernel_shape(*bottom[1]), propagate_down[0] ? bottom[0]->mutable_cpu_diff() : static_cast<Dtype*>(NULL),
      propagate_down[1] ? bottom[1]->mutable_cpu_diff() : static_cast<Dtype*>(NULL));
}

INSTANTIATE_CLASS(MXBroadcastLayer);

// One registered type per operation: a plugin cannot add a parameter field to caffe.proto.
#define MXNET2CAFFE_BROADCAST_TYPE(Name, op)                                   \
  template <typename Dtype>                                                    \
  MX##Name##Layer<Dtype>::MX##Name##Layer(const LayerParameter& param)         \
      : MXBroadcastLayer<Dtype>(param, mxnet2caffe::BroadcastOp::op) {}         \
  INSTANTIATE_CLASS(MX##Name##Layer);                                          \
  REGISTER_LAYER_CLASS(MX##Name)

MXNET2CAFFE_BROADCAST_TYPE(BroadcastMul, kMul);
MXNET2CAFFE_BROADCAST_TYPE(BroadcastAdd, kAdd);
MXNET2CAFFE_BROADCAST_TYPE(BroadcastSub, kSub);
MXNET2CAFFE_BROADCAST_TYPE(BroadcastDiv, kDiv);

#undef MXNET2CAFFE_BROADCAST_TYPE

}  // namespace caffe
