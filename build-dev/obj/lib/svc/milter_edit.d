build-dev/obj/lib/svc/milter_edit.o: lib/svc/milter_edit.c \
 lib/svc/milter_int.h lib/svc/milter.h lib/base/buf.h \
 lib/proto/milterproto.h lib/sys/conf.h lib/base/mem.h lib/sys/log.h
lib/svc/milter_int.h:
lib/svc/milter.h:
lib/base/buf.h:
lib/proto/milterproto.h:
lib/sys/conf.h:
lib/base/mem.h:
lib/sys/log.h:
