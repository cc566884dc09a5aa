/* Open descriptors of this process (see process_handles.h): the entries
 * of /proc/self/fd on Linux, /dev/fd where that is what the system has. */
#include <dirent.h>
#include <stddef.h>

#include "process_handles.h"

int process_open_handles(uint64_t *count) {
  static const char *const dirs[] = {"/proc/self/fd", "/dev/fd"};
  size_t i;

  for (i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
    DIR *d = opendir(dirs[i]);
    struct dirent *e;
    uint64_t n = 0;
    if (d == NULL) continue;
    while ((e = readdir(d)) != NULL)
      if (e->d_name[0] != '.') n++;
    closedir(d);
    /* The listing holds a descriptor of its own while it runs: not one
     * of ours to report. */
    *count = n > 0 ? n - 1 : 0;
    return 0;
  }
  return -1;
}
