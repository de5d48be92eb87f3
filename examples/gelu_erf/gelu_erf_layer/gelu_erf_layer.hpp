#ifndef GELU_ERF_LAYER_HPP_
#define GELU_ERF_LAYER_HPP_

#include <vector>

#include "caffe/blob.hpp"
#include "caffe/layer.hpp"
#include "caffe/proto/caffe.pb.h"

namespace caffe {

/**
 * @brief "GeluErf": top = bottom / 2 * (1 + erf(bottom / sqrt(2))), elementwise
 *        (gelu_erf_kernel.hpp). No parameters and no weights.
 *
 * In place (top == bottom) it keeps a copy of the bottom for Backward, which needs the input.
 * CPU only: in a GPU build Caffe's default Forward_gpu/Backward_gpu run the CPU code.
 */
template <typename Dtype>
class GeluErfLayer : public Layer<Dtype> {
 public:
  explicit GeluErfLayer(const LayerParameter& param) : Layer<Dtype>(param) {}
  virtual void Reshape(const vector<Blob<Dtype>*>& bottom, const vector<Blob<Dtype>*>& top);

  virtual inline const char* type() const { return "GeluErf"; }
  virtual inline int ExactNumBottomBlobs() const { return 1; }
  virtual inline int ExactNumTopBlobs() const { return 1; }

 protected:
  virtual void Forward_cpu(const vector<Blob<Dtype>*>& bottom, const vector<Blob<Dtype>*>& top);
  virtual void Backward_cpu(const vector<Blob<Dtype>*>& top, const vector<bool>& propagate_down,
                            const vector<Blob<Dtype>*>& bottom);

 private:
  Blob<Dtype> bottom_copy_;  // the input, when computed in place
};

}  // namespace caffe

#endif  // GELU_ERF_LAYER_HPP_
