/* The UI's static files (--ui DIR): the form, the dashboard and their assets. */
#ifndef GROVE_HTTP_UI_FILES_H
#define GROVE_HTTP_UI_FILES_H

#include <h2o.h>

/* Serves DIR's files under ROOT's path (index.html for a directory). */
void ui_files_register(h2o_pathconf_t *root, const char *dir);

#endif /* GROVE_HTTP_UI_FILES_H */
