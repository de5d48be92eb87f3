#include <string>
#include <vector>

#include "caffe/layers/mx_transpose_layer.hpp"
#include "mxnet2caffe/transpose.hpp"

namespace caffe {

template <typename Dtype>
void MXTransposeLayer<Dtype>::LayerSetUp(const vector<Blob<Dtype>*>& bottom, const vector<Blob<Dtype>*>& top) {
  const LayerParameter& param = this->layer_param_;
  // reshape_param carries only the order here: a field that means something else is a mistake
  CHECK(param.has_reshape_param() && param.reshape_param().has_shape() && !param.reshape_param().has_axis() &&
        !param.reshape_param().has_num_axes())
      << this->type() << " layer " << param.name()
      << " needs its axis order, and only that, as reshape_param { shape { dim: ... } }";
  const BlobShape& order = param.reshape_param().shape();
  order_.assign(order.dim().begin(), order.dim().end());
}

template <typename Dtype>
void MXTransposeLayer<Dtype>::Reshape(const vector<Blob<Dtype>*>& bottom, const vector<Blob<Dtype>*>& top) {
  const mxnet2caffe::Shape shape(bottom[0]->shape().begin(), bottom[0]->shape().end());
  const std::string error = mxnet2caffe::transpose_error(shape, order_);
  CHECK(error.empty()) << this->type() << " layer " << this->layer_param_.name() << ": " << error;
  CHECK(top[0] != bottom[0]) << this->type() << " layer " << this->layer_param_.name() << " cannot compute in place";
  const mxnet2caffe::Shape out = mxnet2caffe::transpose_output_shape(shape, order_);
  top[0]->Reshape(vector<int>(out.begin(), out.end()));
}

template <typename Dtype>
void MXTransposeLayer<Dtype>::Forward_cpu(const vector<Blob<Dtype>*>& bottom, const vector<Blob<Dtype>*>& top) {
  const mxnet2caffe::Shape shape(bottom[0]->shape().begin(), bottom[0]->shape().end());
  mxnet2caffe::transpose_forward(bottom[0]->cpu_data(), shape, order_, top[0]->mutable_cpu_data());
}

template <typename Dtype>
void MXTransposeLayer<Dtype>::Backward_cpu(const vector<Blob<Dtype>*>& top, const vector<bool>& propagate_down,
                                           const vector<Blob<Dtype>*>& bottom) {
  if (!propagate_down[0]) return;
  const mxnet2caffe::Shape shape(bottom[0]->shape().begin(), bottom[0]->shape().end());
  mxnet2caffe::transpose_backward(top[0]->cpu_diff(), shape, order_, bottom[0]->mutable_cpu_diff());
}

INSTANTIATE_CLASS(MXTransposeLayer);
REGISTER_LAYER_CLASS(MXTranspose);

}  // namespace caffe
