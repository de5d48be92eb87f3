#ifndef CAFFE_MX_BROADCAST_MUL_LAYER_HPP_
#define CAFFE_MX_BROADCAST_MUL_LAYER_HPP_

#include <vector>

#include "caffe/blob.hpp"
#include "caffe/layer.hpp"
#include "caffe/proto/caffe.pb.h"

namespace caffe {

/**
 * @brief MXNet's broadcast_mul as one layer: top = bottom[0] * bottom[1], where bottom[1] has
 *        bottom[0]'s number of axes and each of its axes has bottom[0]'s size or 1
 *        (SE blocks: N,C,H,W times N,C,1,1). No parameters. Registered as "MXBroadcastMul"
 *        (plain "BroadcastMul" is taken by other Caffe forks).
 *
 * CPU only: in a GPU build Caffe's default Forward_gpu/Backward_gpu run the CPU code.
 */
template <typename Dtype>
class MXBroadcastMulLayer : public Layer<Dtype> {
 public:
  explicit MXBroadcastMulLayer(const LayerParameter& param) : Layer<Dtype>(param) {}
  virtual void Reshape(const vector<Blob<Dtype>*>& bottom, const vector<Blob<Dtype>*>& top);

  virtual inline const char* type() const { return "MXBroadcastMul"; }
  virtual inline int ExactNumBottomBlobs() const { return 2; }
  virtual inline int ExactNumTopBlobs() const { return 1; }

 protected:
  virtual void Forward_cpu(const vector<Blob<Dtype>*>& bottom, const vector<Blob<Dtype>*>& top);
  virtual void Backward_cpu(const vector<Blob<Dtype>*>& top, const vector<bool>& propagate_down,
                            const vector<Blob<Dtype>*>& bottom);
};

}  // namespace caffe

#endif  // CAFFE_MX_BROADCAST_MUL_LAYER_HPP_
