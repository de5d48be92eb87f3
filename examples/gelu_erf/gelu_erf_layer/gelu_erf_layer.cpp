#include <vector>

#include "caffe/util/math_functions.hpp"
#include "gelu_erf_kernel.hpp"
#include "gelu_erf_layer.hpp"

namespace caffe {

template <typename Dtype>
void GeluErfLayer<Dtype>::Reshape(const vector<Blob<Dtype>*>& bottom, const vector<Blob<Dtype>*>& top) {
  top[0]->ReshapeLike(*bottom[0]);
  if (top[0] == bottom[0]) bottom_copy_.ReshapeLike(*bottom[0]);
}

template <typename Dtype>
void GeluErfLayer<Dtype>::Forward_cpu(const vector<Blob<Dtype>*>& bottom, const vector<Blob<Dtype>*>& top) {
  if (top[0] == bottom[0]) caffe_copy(bottom[0]->count(), bottom[0]->cpu_data(), bottom_copy_.mutable_cpu_data());
  gelu_erf_kernel::forward(bottom[0]->cpu_data(), static_cast<std::int64_t>(bottom[0]->count()),
                           top[0]->mutable_cpu_data());
}

template <typename Dtype>
void GeluErfLayer<Dtype>::Backward_cpu(const vector<Blob<Dtype>*>& top, const vector<bool>& propagate_down,
                                       const vector<Blob<Dtype>*>& bottom) {
  if (!propagate_down[0]) return;
  const Dtype* x = top[0] == bottom[0] ? bottom_copy_.cpu_data() : bottom[0]->cpu_data();
  gelu_erf_kernel::backward(x, top[0]->cpu_diff(), static_cast<std::int64_t>(top[0]->count()),
                            bottom[0]->mutable_cpu_diff());
}

INSTANTIATE_CLASS(GeluErfLayer);
REGISTER_LAYER_CLASS(GeluErf);

}  // namespace caffe
