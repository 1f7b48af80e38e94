build-wft/obj/tests/fuzz/fuzz_milter.o: tests/fuzz/fuzz_milter.c \
 lib/base/buf.h lib/svc/milter.h lib/sys/conf.h
lib/base/buf.h:
lib/svc/milter.h:
lib/sys/conf.h:
