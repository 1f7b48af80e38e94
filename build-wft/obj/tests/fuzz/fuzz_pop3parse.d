build-wft/obj/tests/fuzz/fuzz_pop3parse.o: tests/fuzz/fuzz_pop3parse.c \
 lib/proto/pop3parse.h
lib/proto/pop3parse.h:
