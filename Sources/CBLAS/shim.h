// CBLAS: OpenBLAS's CBLAS and LAPACKE interfaces for Swift. No logic.
#ifndef CBLAS_SHIM_H
#define CBLAS_SHIM_H
#include <cblas.h>
#include <lapacke.h>
#endif
