build-wft/obj/tests/unit/test_msgtext.o: tests/unit/test_msgtext.c \
 lib/base/buf.h lib/proto/msgtext.h
lib/base/buf.h:
lib/proto/msgtext.h:
