build-wft/obj/tests/fuzz/fuzz_addr.o: tests/fuzz/fuzz_addr.c \
 lib/proto/addr.h
lib/proto/addr.h:
