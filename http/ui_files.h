/*
 * The UI's static files (--ui DIR): the form, the dashboard and their assets, read into
 * memory once at start-up and served from there. Only regular files inside DIR are taken:
 * no symbolic link is followed below DIR, no name starting with '.' (file or directory) is
 * taken, so nothing outside the UI can ever be served, whatever the request path says.
 */
#ifndef GROVE_HTTP_UI_FILES_H
#define GROVE_HTTP_UI_FILES_H

#include <h2o.h>

/* Reads DIR's files and serves them under ROOT's path (index.html for "/" and for a path
 * ending in '/'). A DIR that cannot be read is logged as a warning; "/" then answers a
 * short page saying the UI is missing, and so does every other UI path. Freed with the h2o
 * configuration. */
void ui_files_register(h2o_pathconf_t *root, const char *dir);

#endif /* GROVE_HTTP_UI_FILES_H */
