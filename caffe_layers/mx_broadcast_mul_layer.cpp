#include <vector>

#include "caffe/layers/mx_broadcast_mul_layer.hpp"
#include "mxnet2caffe/broadcast_mul.hpp"

namespace caffe {

namespace {

template <typename Dtype>
mxnet2caffe::Shape kernel_shape(const Blob<Dtype>& blob) {
  return mxnet2caffe::Shape(blob.shape().begin(), blob.shape().end());
}

}  // namespace

template <typename Dtype>
void MXBroadcastMulLayer<Dtype>::Reshape(const vector<Blob<Dtype>*>& bottom,
                                         const vector<Blob<Dtype>*>& top) {
  const std::string error =
      mxnet2caffe::broadcast_mul_shape_error(kernel_shape(*bottom[0]), kernel_shape(*bottom[1]));
  CHECK(error.empty()) << "MXBroadcastMul layer " << this->layer_param_.name() << ": " << error;
  // Backward needs both bottoms as they were, so neither may be overwritten by the top.
  CHECK(top[0] != bottom[0] && top[0] != bottom[1])
      << "MXBroadcastMul layer " << this->layer_param_.name() << " cannot compute in place";
  top[0]->ReshapeLike(*bottom[0]);
}

template <typename Dtype>
void MXBroadcastMulLayer<Dtype>::Forward_cpu(const vector<Blob<Dtype>*>& bottom,
                                             const vector<Blob<Dtype>*>& top) {
  mxnet2caffe::broadcast_mul_forward(bottom[0]->cpu_data(), kernel_shape(*bottom[0]),
                                     bottom[1]->cpu_data(), kernel_shape(*bottom[1]),
                                     top[0]->mutable_cpu_data());
}

template <typename Dtype>
void MXBroadcastMulLayer<Dtype>::Backward_cpu(const vector<Blob<Dtype>*>& top,
                                              const vector<bool>& propagate_down,
                                              const vector<Blob<Dtype>*>& bottom) {
  if (!propagate_down[0] && !propagate_down[1]) return;
  mxnet2caffe::broadcast_mul_backward(
      top[0]->cpu_diff(), bottom[0]->cpu_data(), kernel_shape(*bottom[0]),
      bottom[1]->cpu_data(), kernel_shape(*bottom[1]),
      propagate_down[0] ? bottom[0]->mutable_cpu_diff() : static_cast<Dtype*>(NULL),
      propagate_down[1] ? bottom[1]->mutable_cpu_diff() : static_cast<Dtype*>(NULL));
}

INSTANTIATE_CLASS(MXBroadcastMulLayer);
REGISTER_LAYER_CLASS(MXBroadcastMul);

}  // namespace caffe
