#include <mpi.h>
#include <stdio.h>
#include <unistd.h>
#include <sys/resource.h>
/* Rank 0 sleeps 10 s outside MPI; the others wait for it in a blocking MPI_Barrier. Each prints the
   CPU seconds it used: what a blocking wait costs under this MPI. */
int main(int c, char **v) {
    MPI_Init(&c, &v);
    int rank; MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Barrier(MPI_COMM_WORLD);
    struct rusage before, after; getrusage(RUSAGE_SELF, &before);
    if (rank == 0) sleep(10);
    MPI_Barrier(MPI_COMM_WORLD);
    getrusage(RUSAGE_SELF, &after);
    double used = (after.ru_utime.tv_sec - before.ru_utime.tv_sec) + (after.ru_stime.tv_sec - before.ru_stime.tv_sec)
        + 1e-6 * ((after.ru_utime.tv_usec - before.ru_utime.tv_usec) + (after.ru_stime.tv_usec - before.ru_stime.tv_usec));
    printf("rank %d: %.1f CPU s in a 10 s wait (%.0f%%)\n", rank, used, used * 10);
    MPI_Finalize(); return 0;
}
