// Sets a thread's scheduler slice (sched_attr.sched_runtime for SCHED_OTHER, Linux 6.12 and later: EEVDF
// lets a waking task with a shorter slice preempt the running one), keeping its policy and nice value.
// Built by bench/tools/sched-slice.sh (the experiments call it) with the system's C compiler.
//
//   sched-slice <tid> <nanoseconds>     (the kernel accepts 100000 to 100000000)
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

struct sched_attr {
  uint32_t size, sched_policy;
  uint64_t sched_flags;
  int32_t sched_nice;
  uint32_t sched_priority;
  uint64_t sched_runtime, sched_deadline, sched_period;
  uint32_t sched_util_min, sched_util_max;
};

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: sched-slice <tid> <nanoseconds>\n");
    return 2;
  }
  int tid = atoi(argv[1]);
  struct sched_attr attr;
  memset(&attr, 0, sizeof attr);
  attr.size = sizeof attr;
  if (syscall(SYS_sched_getattr, tid, &attr, sizeof attr, 0) != 0) {
    perror("sched_getattr");
    return 1;
  }
  uint64_t before = attr.sched_runtime;
  attr.sched_runtime = strtoull(argv[2], NULL, 10);
  if (syscall(SYS_sched_setattr, tid, &attr, 0) != 0) {
    perror("sched_setattr");
    return 1;
  }
  printf("thread %d: slice %llu ns (was %llu), nice %d\n", tid, (unsigned long long)attr.sched_runtime,
         (unsigned long long)before, attr.sched_nice);
  return 0;
}
