build-wft/obj/tests/unit/test_milter.o: tests/unit/test_milter.c \
 lib/base/buf.h lib/sys/conf.h lib/svc/milter.h
lib/base/buf.h:
lib/sys/conf.h:
lib/svc/milter.h:
