/* lazy_need() for programs that link json-c, protobuf-c and zlib
 * (the CLI, the test drivers): the libraries are there from the start.
 * libpinshim-core.so uses lazy.c, which opens them on first use. */
#include "shim.h"

bool lazy_need(enum lazy_lib which)
{
	(void)which;
	return true;
}
