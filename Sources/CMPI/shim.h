// Open MPI's C API (Debian: libopenmpi-dev; include and library paths from pkg-config ompi-c).
#include <mpi.h>

// Open MPI's predefined handles are macros over global structs, which Swift cannot import: functions return them.
static inline MPI_Comm rgp_mpi_comm_world(void) { return MPI_COMM_WORLD; }
static inline MPI_Datatype rgp_mpi_float(void) { return MPI_FLOAT; }
static inline MPI_Datatype rgp_mpi_double(void) { return MPI_DOUBLE; }
static inline MPI_Datatype rgp_mpi_int64(void) { return MPI_INT64_T; }
static inline MPI_Datatype rgp_mpi_uint64(void) { return MPI_UINT64_T; }
static inline MPI_Datatype rgp_mpi_byte(void) { return MPI_BYTE; }
static inline MPI_Op rgp_mpi_sum(void) { return MPI_SUM; }
static inline MPI_Op rgp_mpi_max(void) { return MPI_MAX; }
static inline void *rgp_mpi_in_place(void) { return MPI_IN_PLACE; }
static inline MPI_Errhandler rgp_mpi_errors_are_fatal(void) { return MPI_ERRORS_ARE_FATAL; }
