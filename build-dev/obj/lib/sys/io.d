build-dev/obj/lib/sys/io.o: lib/sys/io.c lib/sys/io.h lib/base/buf.h \
 lib/base/timeutil.h
lib/sys/io.h:
lib/base/buf.h:
lib/base/timeutil.h:
