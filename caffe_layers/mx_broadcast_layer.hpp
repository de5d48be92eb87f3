#ifndef CAFFE_MX_BROADCAST_LAYER_HPP_
#define CAFFE_MX_BROADCAST_LAYER_HPP_

#include <vector>

#include "caffe/blob.hpp"
#include "caffe/layer.hpp"
#include "caffe/proto/caffe.pb.h"

namespace mxnet2caffe {
// Defined by the kernel header (mxnet2caffe/broadcast.hpp), which Caffe's installed headers
// need not include: the layers' sources see the definition.
enum class BroadcastOp : int;
}  // namespace mxnet2caffe

namespace caffe {

/**
 * @brief MXNet's broadcast_mul/add/sub/div: top = bottom[0] op bottom[1], where the bottoms have
 *        the same number of axes and one of them (either) has the top's shape while each axis of
 *        the other has that size or 1 (SE blocks: N,C,H,W times N,C,1,1; also s - x, s / x).
 *        No parameters: each operation is its own layer type, below. "MX" because plain
 *        "BroadcastMul" is taken by other Caffe forks.
 *
 * CPU only: in a GPU build Caffe's default Forward_gpu/Backward_gpu run the CPU code.
 */
template <typename Dtype>
class MXBroadcastLayer : public Layer<Dtype> {
 public:
  MXBroadcastLayer(const LayerParameter& param, mxnet2caffe::BroadcastOp op) : Layer<Dtype>(param), op_(op) {}
  virtual void Reshape(const vector<Blob<Dtype>*>& bottom, const vector<Blob<Dtype>*>& top);

  virtual inline int ExactNumBottomBlobs() const { return 2; }
  virtual inline int ExactNumTopBlobs() const { return 1; }

 protected:
  virtual void Forward_cpu(const vector<Blob<Dtype>*>& bottom, const vector<Blob<Dtype>*>& top);
  virtual void Backward_cpu(const vector<Blob<Dtype>*>& top, const vector<bool>& propagate_down,
                            const vector<Blob<Dtype>*>& bottom);

 private:
  const mxnet2caffe::BroadcastOp op_;
};

/// "MXBroadcastMul": bottom[0] * bottom[1].
template <typename Dtype>
class MXBroadcastMulLayer : public MXBroadcastLayer<Dtype> {
 public:
  explicit MXBroadcastMulLayer(const LayerParameter& param);
  virtual inline const char* type() const { return "MXBroadcastMul"; }
};

/// "MXBroadcastAdd": bottom[0] + bottom[1].
template <typename Dtype>
class MXBroadcastAddLayer : public MXBroadcastLayer<Dtype> {
 public:
  explicit MXBroadcastAddLayer(const LayerParameter& param);
  virtual inline const char* type() const { return "MXBroadcastAdd"; }
};

/// "MXBroadcastSub": bottom[0] - bottom[1].
template <typename Dtype>
class MXBroadcastSubLayer : public MXBroadcastLayer<Dtype> {
 public:
  explicit MXBroadcastSubLayer(const LayerParameter& param);
  virtual inline const char* type() const { return "MXBroadcastSub"; }
};

/// "MXBroadcastDiv": bottom[0] / bottom[1].
template <typename Dtype>
class MXBroadcastDivLayer : public MXBroadcastLayer<Dtype> {
 public:
  explicit MXBroadcastDivLayer(const LayerParameter& param);
  virtual inline const char* type() const { return "MXBroadcastDiv"; }
};

}  // namespace caffe

#endif  // CAFFE_MX_BROADCAST_LAYER_HPP_
