// OpenBLAS's CBLAS and LAPACKE for bench-kernels, which times GeoPredict's hand-written ALS kernels
// against them (benchmarks/README.md, "ALS kernels"). No logic.
#ifndef BENCH_CBLAS_SHIM_H
#define BENCH_CBLAS_SHIM_H
#include <cblas.h>
#include <lapacke.h>
#endif
