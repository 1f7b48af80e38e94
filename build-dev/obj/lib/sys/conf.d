build-dev/obj/lib/sys/conf.o: lib/sys/conf.c lib/sys/conf.h \
 lib/base/buf.h lib/base/fmt.h lib/base/mem.h
lib/sys/conf.h:
lib/base/buf.h:
lib/base/fmt.h:
lib/base/mem.h:
