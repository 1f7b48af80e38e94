build-dev/obj/lib/proto/milterproto.o: lib/proto/milterproto.c \
 lib/proto/milterproto.h lib/base/buf.h lib/base/mem.h
lib/proto/milterproto.h:
lib/base/buf.h:
lib/base/mem.h:
