// Precompiled header shared by every libtorch-using target (see CMakeLists.txt).
#pragma once
#include <torch/torch.h>

#include <map>
#include <memory>
#include <string>
#include <vector>
