build-dev/obj/lib/sys/conn.o: lib/sys/conn.c lib/sys/conn.h \
 lib/sys/fdpass.h lib/sys/log.h lib/base/mem.h lib/base/rnd.h \
 sandbox/sandbox.h
lib/sys/conn.h:
lib/sys/fdpass.h:
lib/sys/log.h:
lib/base/mem.h:
lib/base/rnd.h:
sandbox/sandbox.h:
