"""Infrastructure for the runtimes the project runs models in (MXNet, OpenCV DNN, a real Caffe):
importing them with a helpful message, and finding or building the reference Caffe. Converting
needs none of it; verify/ and caffe_layers/ stand on it."""
