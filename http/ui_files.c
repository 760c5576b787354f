/* The UI's static files (ui_files.h), served by h2o's file handler. */
#include "ui_files.h"

void ui_files_register(h2o_pathconf_t *root, const char *dir) {
  static const char *index_files[] = {"index.html", NULL};
  h2o_file_register(root, dir, index_files, NULL, 0);
}
