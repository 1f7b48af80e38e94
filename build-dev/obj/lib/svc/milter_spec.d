build-dev/obj/lib/svc/milter_spec.o: lib/svc/milter_spec.c \
 lib/svc/milter_int.h lib/svc/milter.h lib/base/buf.h \
 lib/proto/milterproto.h lib/sys/conf.h
lib/svc/milter_int.h:
lib/svc/milter.h:
lib/base/buf.h:
lib/proto/milterproto.h:
lib/sys/conf.h:
