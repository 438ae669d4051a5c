// Loads a tfdet SavedModel with tensorflow::LoadSavedModel (the API TF Serving uses) and runs
// its serving_default signature on encoded image files. Exit status 0 on success.
//
//   check_saved_model EXPORT_DIR IMAGE [IMAGE...]
//
// Build against the installed wheel (see tfdet/serving/cpp.py or docs/export.md):
//   g++ -std=c++17 check_saved_model.cc $(python -c "import tensorflow as tf; print(' '.join(tf.sysconfig.get_compile_flags()))")
//       -L$TF -Wl,--no-as-needed -l:libtensorflow_cc.so.2 -l:libtensorflow_framework.so.2 -Wl,-rpath,$TF
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "tensorflow/cc/saved_model/loader.h"
#include "tensorflow/core/framework/tensor.h"
#include "tensorflow/core/public/session.h"

int main(int argc, char** argv) {
  if (argc < 3) {
    std::cerr << "usage: " << argv[0] << " EXPORT_DIR IMAGE [IMAGE...]" << std::endl;
    return 2;
  }
  tensorflow::SavedModelBundle bundle;
  tensorflow::SessionOptions session_options;
  tensorflow::RunOptions run_options;
  tensorflow::Status status = tensorflow::LoadSavedModel(session_options, run_options, argv[1],
                                                         {"serve"}, &bundle);
  if (!status.ok()) {
    std::cerr << "LoadSavedModel failed: " << status.ToString() << std::endl;
    return 1;
  }
  auto signatures = bundle.meta_graph_def.signature_def();
  for (const auto& name : {"serving_default", "serving_image_tensor", "serving_tf_example"}) {
    if (signatures.find(name) == signatures.end()) {
      std::cerr << "missing signature " << name << std::endl;
      return 1;
    }
  }
  const auto& signature = signatures.at("serving_default");
  const int num_images = argc - 2;
  tensorflow::Tensor images(tensorflow::DT_STRING, tensorflow::TensorShape({num_images}));
  for (int i = 0; i < num_images; ++i) {
    std::ifstream file(argv[i + 2], std::ios::binary);
    std::stringstream buffer;
    buffer << file.rdbuf();
    images.flat<tensorflow::tstring>()(i) = buffer.str();
  }
  std::vector<std::string> output_keys = {"detection_quads", "detection_boxes", "detection_scores",
                                          "detection_classes", "num_detections"};
  std::vector<std::string> output_names;
  for (const auto& key : output_keys) {
    auto it = signature.outputs().find(key);
    if (it == signature.outputs().end()) {
      std::cerr << "missing output " << key << std::endl;
      return 1;
    }
    output_names.push_back(it->second.name());
  }
  std::vector<tensorflow::Tensor> outputs;
  status = bundle.session->Run({{signature.inputs().at("images").name(), images}}, output_names, {}, &outputs);
  if (!status.ok()) {
    std::cerr << "Run failed: " << status.ToString() << std::endl;
    return 1;
  }
  auto num = outputs[4].flat<int32_t>();
  auto scores = outputs[2].matrix<float>();
  std::cout << "{\"images\": " << num_images << ", \"num_detections\": [";
  for (int i = 0; i < num_images; ++i) std::cout << (i ? ", " : "") << num(i);
  std::cout << "], \"top_scores\": [";
  for (int i = 0; i < num_images; ++i) std::cout << (i ? ", " : "") << (num(i) > 0 ? scores(i, 0) : 0.0f);
  std::cout << "], \"quads_shape\": [" << outputs[0].dim_size(0) << ", " << outputs[0].dim_size(1) << ", "
            << outputs[0].dim_size(2) << "]}" << std::endl;
  return 0;
}
