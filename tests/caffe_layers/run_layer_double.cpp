// Runs Caffe's MXBroadcastMulLayer<double>, created through the layer registry:
//   run_layer_double X_SHAPE S_SHAPE PROPAGATE DIR
// with shapes like 2,3,4,5 and PROPAGATE like 10 (propagate_down for x and s); DIR holds x, s
// and dy as raw float64 and receives y, dx and ds. Diffs not propagated to stay 7.
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
  CHECK_EQ(argc, 5) << "usage: run_layer_double X_SHAPE S_SHAPE PROPAGATE DIR";
  const std::string propagate = argv[3];
  CHECK_EQ(propagate.size(), 2) << "PROPAGATE is two flags, like 10";
  const std::string dir = argv[4];
  caffe::Blob<double> x(parse_shape(argv[1])), s(parse_shape(argv[2])), y;
  read_values(dir + "/x", x.mutable_cpu_data(), x.count());
  read_values(dir + "/s", s.mutable_cpu_data(), s.count());

  caffe::LayerParameter param;
  param.set_name("y");
  param.set_type("MXBroadcastMul");
  boost::shared_ptr<caffe::Layer<double> > layer = caffe::LayerRegistry<double>::CreateLayer(param);
  std::vector<caffe::Blob<double>*> bottom;
  bottom.push_back(&x);
  bottom.push_back(&s);
  std::vector<caffe::Blob<double>*> top(1, &y);
  layer->SetUp(bottom, top);
  layer->Forward(bottom, top);
  read_values(dir + "/dy", y.mutable_cpu_diff(), y.count());
  caffe::caffe_set(x.count(), 7.0, x.mutable_cpu_diff());
  caffe::caffe_set(s.count(), 7.0, s.mutable_cpu_diff());
  std::vector<bool> propagate_down;
  propagate_down.push_back(propagate[0] == '1');
  propagate_down.push_back(propagate[1] == '1');
  layer->Backward(top, propagate_down, bottom);

  write_values(dir + "/y", y.cpu_data(), y.count());
  write_values(dir + "/dx", x.cpu_diff(), x.count());
  write_values(dir + "/ds", s.cpu_diff(), s.count());
  return 0;
}
