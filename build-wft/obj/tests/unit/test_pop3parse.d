build-wft/obj/tests/unit/test_pop3parse.o: tests/unit/test_pop3parse.c \
 lib/proto/pop3parse.h
lib/proto/pop3parse.h:
