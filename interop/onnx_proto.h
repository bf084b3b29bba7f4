// onnx_proto.h - the one place trim includes Debian's ONNX headers (libonnx-dev 1.12). The
// package's CMake targets (onnx, onnx_proto) define ONNX_ML=1 and ONNX_NAMESPACE=onnx, so
// onnx/onnx_pb.h resolves to the generated onnx/onnx-ml.pb.h classes in namespace onnx; the
// defaults below keep a stray compile without those definitions consistent with the library.
#pragma once

#ifndef ONNX_ML
#define ONNX_ML 1
#endif
#ifndef ONNX_NAMESPACE
#define ONNX_NAMESPACE onnx
#endif

#include "onnx/onnx_pb.h"
