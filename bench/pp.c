// membrane benchmark tool (from the project's shared tools): TCP_RR-like and TCP_CRR-like loops.
// TCP ping-pong (TCP_RR-like) and connect/request/close (TCP_CRR-like).
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <signal.h>
static double now(void){struct timespec t;clock_gettime(CLOCK_MONOTONIC,&t);return t.tv_sec+t.tv_nsec*1e-9;}
static int cmp(const void*a,const void*b){double x=*(double*)a,y=*(double*)b;return x<y?-1:x>y;}
int main(int argc,char**argv){
  if(argc<4){fprintf(stderr,"usage: pp server IP PORT | pp rr IP PORT SECS | pp crr IP PORT SECS\n");return 2;}
  signal(SIGPIPE,SIG_IGN);
  struct sockaddr_in a={0};a.sin_family=AF_INET;a.sin_port=htons(atoi(argv[3]));inet_pton(AF_INET,argv[2],&a.sin_addr);
  int one=1;char b[1];
  if(!strcmp(argv[1],"server")){
    int l=socket(AF_INET,SOCK_STREAM,0);setsockopt(l,SOL_SOCKET,SO_REUSEADDR,&one,4);
    if(bind(l,(void*)&a,sizeof a)||listen(l,1024)){perror("bind/listen");return 1;}
    for(;;){int c=accept(l,0,0);if(c<0)continue;setsockopt(c,IPPROTO_TCP,TCP_NODELAY,&one,4);
      for(;;){ssize_t n=read(c,b,1);if(n<=0)break;if(write(c,b,1)!=1)break;} close(c);}
  }
  double secs=argc>4?atof(argv[4]):5;
  if(!strcmp(argv[1],"rr")){
    int s=socket(AF_INET,SOCK_STREAM,0);setsockopt(s,IPPROTO_TCP,TCP_NODELAY,&one,4);
    if(connect(s,(void*)&a,sizeof a)){perror("connect");return 1;}
    size_t cap=1<<24,n=0;double*lat=malloc(cap*sizeof(double));double t0=now(),end=t0+secs;
    while(1){double t=now();if(t>=end||n>=cap)break;b[0]='x';if(write(s,b,1)!=1||read(s,b,1)!=1){perror("rr");return 1;}lat[n++]=now()-t;}
    double el=now()-t0;qsort(lat,n,sizeof(double),cmp);
    printf("TCP_RR-like: %zu transactions in %.2fs = %.0f trans/s; latency us p50=%.1f p90=%.1f p99=%.1f mean=%.1f\n",n,el,n/el,lat[n/2]*1e6,lat[n*9/10]*1e6,lat[n*99/100]*1e6,el/n*1e6);
    close(s);return 0;
  }
  if(!strcmp(argv[1],"crr")){
    size_t n=0;double t0=now(),end=t0+secs;
    while(now()<end){int s=socket(AF_INET,SOCK_STREAM,0);setsockopt(s,IPPROTO_TCP,TCP_NODELAY,&one,4);
      struct linger lg={1,0};setsockopt(s,SOL_SOCKET,SO_LINGER,&lg,sizeof lg); /* RST close avoids TIME_WAIT exhaustion */
      if(connect(s,(void*)&a,sizeof a)){perror("connect");return 1;}
      b[0]='x';if(write(s,b,1)!=1||read(s,b,1)!=1){perror("crr");return 1;} close(s);n++;}
    double el=now()-t0;printf("TCP_CRR-like: %zu connections in %.2fs = %.0f conn/s (%.1f us each)\n",n,el,n/el,el/n*1e6);return 0;
  }
  return 2;
}
