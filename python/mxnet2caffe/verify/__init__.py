"""Running the MXNet original and the converted Caffe model side by side, and comparing."""
