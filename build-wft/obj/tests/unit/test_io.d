build-wft/obj/tests/unit/test_io.o: tests/unit/test_io.c lib/sys/io.h \
 lib/base/buf.h lib/base/timeutil.h lib/sys/tls.h tests/unit/tlstest.h
lib/sys/io.h:
lib/base/buf.h:
lib/base/timeutil.h:
lib/sys/tls.h:
tests/unit/tlstest.h:
