build-dev/obj/lib/svc/milter_io.o: lib/svc/milter_io.c \
 lib/svc/milter_int.h lib/svc/milter.h lib/base/buf.h \
 lib/proto/milterproto.h lib/sys/conf.h lib/base/timeutil.h
lib/svc/milter_int.h:
lib/svc/milter.h:
lib/base/buf.h:
lib/proto/milterproto.h:
lib/sys/conf.h:
lib/base/timeutil.h:
