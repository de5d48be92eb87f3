"""Caffe side: the model schema and the writers for .prototxt and .caffemodel."""
