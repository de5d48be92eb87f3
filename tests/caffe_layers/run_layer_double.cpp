// Runs a native layer's Layer<double> (TYPE, like MXBroadcastSub), created through the layer
// registry:
//   run_layer_double TYPE A_SHAPE B_SHAPE PROPAGATE DIR
// with shapes like 2,3,4,5 and PROPAGATE like 10 (propagate_down for a and b); DIR holds a, b
// and dy as raw float64 and receives y, da and db. Diffs not propagated to stay 7.
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "caffe/blob.hpp"
#include "caffe/layer.hpp"
#include "caffe/layer_factory.hpp"
#include "caffe/util/math_functions.hpp"

namespace {

std::vector<int> parse_shape(const std::string& text) {
  std::vector<int> shape;
  std::stringstream in(text);
  std::string dim;
  while (std::getline(in, dim, ',')) shape.push_back(std::stoi(dim));
  return shape;
}

void read_values(const std::string& path, double* values, int count) {
  std::ifstream in(path.c_str(), std::ios::binary);
  in.read(reinterpret_cast<char*>(values), count * sizeof(double));
  CHECK(in) << "cannot read " << count << " values from " << path;
}

void write_values(const std::string& path, const double* values, int count) {
  std::ofstream out(path.c_str(), std::ios::binary);
  out.write(reinterpret_cast<const char*>(values), count * sizeof(double));
  CHECK(out) << "cannot write " << path;
}

}  // namespace

int main(int argc, char** argv) {
  CHECK_EQ(argc, 6) << "usage: run_layer_double TYPE A_SHAPE B_SHAPE PROPAGATE DIR";
  const std::string propagate = argv[4];
  CHECK_EQ(propagate.size(), 2) << "PROPAGATE is two flags, like 10";
  const std::string dir = argv[5];
  caffe::Blob<double> a(parse_shape(argv[2])), b(parse_shape(argv[3])), y;
  read_values(dir + "/a", a.mutable_cpu_data(), a.count());
  read_values(dir + "/b", b.mutable_cpu_data(), b.count());

  caffe::LayerParameter param;
  param.set_name("y");
  param.set_type(argv[1]);
  boost::shared_ptr<caffe::Layer<double> > layer = caffe::LayerRegistry<double>::CreateLayer(param);
  std::vector<caffe::Blob<double>*> bottom;
  bottom.push_back(&a);
  bottom.push_back(&b);
  std::vector<caffe::Blob<double>*> top(1, &y);
  layer->SetUp(bottom, top);
  layer->Forward(bottom, top);
  read_values(dir + "/dy", y.mutable_cpu_diff(), y.count());
  caffe::caffe_set(a.count(), 7.0, a.mutable_cpu_diff());
  caffe::caffe_set(b.count(), 7.0, b.mutable_cpu_diff());
  std::vector<bool> propagate_down;
  propagate_down.push_back(propagate[0] == '1');
  propagate_down.push_back(propagate[1] == '1');
  layer->Backward(top, propagate_down, bottom);

  write_values(dir + "/y", y.cpu_data(), y.count());
  write_values(dir + "/da", a.cpu_diff(), a.count());
  write_values(dir + "/db", b.cpu_diff(), b.count());
  return 0;
}
