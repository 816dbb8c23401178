// Include this instead of <doctest/doctest.h>. Debian's LibTorch pulls in glog,
// whose CHECK/CHECK_EQ/... macros would silently replace doctest's; torch comes
// first here, its macros are dropped, then doctest defines its own.
#pragma once

#include <torch/types.h>

#undef CHECK
#undef CHECK_EQ
#undef CHECK_NE
#undef CHECK_LT
#undef CHECK_LE
#undef CHECK_GT
#undef CHECK_GE
#undef CHECK_FALSE
#undef CHECK_THROWS
#undef CHECK_NOTHROW

#include <doctest/doctest.h>
