build-dev/obj/lib/proto/pop3parse.o: lib/proto/pop3parse.c \
 lib/proto/pop3parse.h
lib/proto/pop3parse.h:
