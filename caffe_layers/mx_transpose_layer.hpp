#ifndef CAFFE_MX_TRANSPOSE_LAYER_HPP_
#define CAFFE_MX_TRANSPOSE_LAYER_HPP_

#include <cstdint>

#include <vector>

#include "caffe/blob.hpp"
#include "caffe/layer.hpp"
#include "caffe/proto/caffe.pb.h"

namespace caffe {

/**
 * @brief MXNet's transpose and SwapAxis: the top is the bottom with its axes reordered, axis i
 *        of the top being axis order[i] of the bottom (numpy.transpose), any number of axes.
 *
 * The order is given as reshape_param { shape { dim: ... } }: a plugin cannot add a parameter
 * field to caffe.proto, and Caffe (and OpenCV's Caffe importer) parse reshape_param for every
 * layer type. "MX" because plain "Transpose" and "Permute" are taken by other Caffe forks.
 *
 * CPU only: in a GPU build Caffe's default Forward_gpu/Backward_gpu run the CPU code.
 */
template <typename Dtype>
class MXTransposeLayer : public Layer<Dtype> {
 public:
  explicit MXTransposeLayer(const LayerParameter& param) : Layer<Dtype>(param) {}
  virtual void LayerSetUp(const vector<Blob<Dtype>*>& bottom, const vector<Blob<Dtype>*>& top);
  virtual void Reshape(const vector<Blob<Dtype>*>& bottom, const vector<Blob<Dtype>*>& top);

  virtual inline const char* type() const { return "MXTranspose"; }
  virtual inline int ExactNumBottomBlobs() const { return 1; }
  virtual inline int ExactNumTopBlobs() const { return 1; }

 protected:
  virtual void Forward_cpu(const vector<Blob<Dtype>*>& bottom, const vector<Blob<Dtype>*>& top);
  virtual void Backward_cpu(const vector<Blob<Dtype>*>& top, const vector<bool>& propagate_down,
                            const vector<Blob<Dtype>*>& bottom);

 private:
  std::vector<std::int64_t> order_;  // the kernel's permutation (mxnet2caffe/transpose.hpp)
};

}  // namespace caffe

#endif  // CAFFE_MX_TRANSPOSE_LAYER_HPP_
