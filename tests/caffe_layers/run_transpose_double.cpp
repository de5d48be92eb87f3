// Runs MXTranspose's Layer<double>, created through the layer registry with its axis order as
// reshape_param { shape { dim: ... } }, as a C++ Caffe application would:
//   run_transpose_double SHAPE ORDER PROPAGATE DIR
// with SHAPE like 2,3,4,5, ORDER like 0,2,3,1 and PROPAGATE 1 or 0 (propagate_down); DIR holds
// x and dy as raw float64 and receives y and dx. A diff not propagated stays 7.
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "caffe/blob.hpp"
#include "caffe/layer.hpp"
#include "caffe/layer_factory.hpp"
#include "caffe/util/math_functions.hpp"

namespace {

std::vector<int> parse_list(const std::string& text) {
  std::vector<int> values;
  std::stringstream in(text);
  std::string value;
  while (std::getline(in, value, ',')) values.push_back(std::stoi(value));
  return values;
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
  CHECK_EQ(argc, 5) << "usage: run_transpose_double SHAPE ORDER PROPAGATE DIR";
  const std::string dir = argv[4];
  caffe::Blob<double> x(parse_list(argv[1])), y;
  read_values(dir + "/x", x.mutable_cpu_data(), x.count());

  caffe::LayerParameter param;
  param.set_name("y");
  param.set_type("MXTranspose");
  const std::vector<int> order = parse_list(argv[2]);
  for (size_t i = 0; i < order.size(); ++i) param.mutable_reshape_param()->mutable_shape()->add_dim(order[i]);
  boost::shared_ptr<caffe::Layer<double> > layer = caffe::LayerRegistry<double>::CreateLayer(param);
  std::vector<caffe::Blob<double>*> bottom(1, &x), top(1, &y);
  layer->SetUp(bottom, top);
  layer->Forward(bottom, top);
  read_values(dir + "/dy", y.mutable_cpu_diff(), y.count());
  caffe::caffe_set(x.count(), 7.0, x.mutable_cpu_diff());
  layer->Backward(top, std::vector<bool>(1, std::string(argv[3]) == "1"), bottom);

  write_values(dir + "/y", y.cpu_data(), y.count());
  write_values(dir + "/dx", x.cpu_diff(), x.count());
  return 0;
}
