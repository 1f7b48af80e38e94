build-wft/obj/tests/unit/test_mutf7.o: tests/unit/test_mutf7.c \
 lib/base/buf.h lib/proto/mutf7.h
lib/base/buf.h:
lib/proto/mutf7.h:
