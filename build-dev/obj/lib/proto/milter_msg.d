build-dev/obj/lib/proto/milter_msg.o: lib/proto/milter_msg.c \
 lib/proto/milterproto.h lib/base/buf.h lib/base/mem.h
lib/proto/milterproto.h:
lib/base/buf.h:
lib/base/mem.h:
