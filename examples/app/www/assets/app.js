console.log('reports ready')
