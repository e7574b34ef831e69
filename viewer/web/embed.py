#!/usr/bin/env python3
"""Compiles a static file into the binary: embed.py INPUT OUTPUT NAME writes
a C file defining `const char NAME[]` (the bytes, NUL-terminated) and
`const size_t NAME_len`.  Run by viewer/meson.build."""

import sys


def main():
    src, out, name = sys.argv[1:4]
    with open(src, "rb") as f:
        data = f.read()
    lines = ["/* generated from %s by embed.py */" % src.rsplit("/", 1)[-1],
             "#include <stddef.h>",
             "const char %s[] = {" % name]
    for i in range(0, len(data), 16):
        lines.append("\t" + ", ".join("0x%02x" % b for b in data[i:i + 16]) + ",")
    lines.append("\t0x00\n};")
    lines.append("const size_t %s_len = %d;" % (name, len(data)))
    with open(out, "w") as f:
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
