build-dev/obj/lib/login/login.o: lib/login/login.c lib/login/login.h \
 lib/sys/conf.h lib/sys/conn.h lib/base/buf.h lib/sys/io.h \
 lib/sys/server.h lib/sys/conf.h sandbox/sandbox.h lib/base/codec.h \
 lib/base/buf.h lib/sys/fdpass.h lib/sys/log.h lib/base/timeutil.h
lib/login/login.h:
lib/sys/conf.h:
lib/sys/conn.h:
lib/base/buf.h:
lib/sys/io.h:
lib/sys/server.h:
lib/sys/conf.h:
sandbox/sandbox.h:
lib/base/codec.h:
lib/base/buf.h:
lib/sys/fdpass.h:
lib/sys/log.h:
lib/base/timeutil.h:
