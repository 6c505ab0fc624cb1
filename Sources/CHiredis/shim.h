#ifndef HERALD_CHIREDIS_SHIM_H
#define HERALD_CHIREDIS_SHIM_H
/* hiredis 0.14 (Debian 12) installs its pkg-config include dir as /usr/include/hiredis;
   hiredis 1.x points at /usr/include. Accept both. */
#if __has_include(<hiredis/hiredis.h>)
#include <hiredis/hiredis.h>
#include <hiredis/read.h>
#else
#include <hiredis.h>
#include <read.h>
#endif
#endif
