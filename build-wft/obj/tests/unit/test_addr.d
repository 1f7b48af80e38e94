build-wft/obj/tests/unit/test_addr.o: tests/unit/test_addr.c \
 lib/proto/addr.h
lib/proto/addr.h:
