build-dev/obj/lib/data/dirindex.o: lib/data/dirindex.c \
 lib/data/dirindex.h lib/base/mem.h
lib/data/dirindex.h:
lib/base/mem.h:
