build-wft/obj/tests/fuzz/fuzz_login.o: tests/fuzz/fuzz_login.c \
 lib/base/buf.h lib/login/login.h lib/sys/conf.h lib/sys/conn.h \
 lib/sys/io.h lib/sys/server.h lib/sys/conf.h sandbox/sandbox.h
lib/base/buf.h:
lib/login/login.h:
lib/sys/conf.h:
lib/sys/conn.h:
lib/sys/io.h:
lib/sys/server.h:
lib/sys/conf.h:
sandbox/sandbox.h:
